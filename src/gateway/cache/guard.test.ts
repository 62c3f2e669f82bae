import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guardAllows, guardSignature } from './guard.ts';

test('paraphrases keep their signature and pass the guard', () => {
  for (const [a, b] of [
    ['How do I turn on dark mode?', 'How can I enable dark mode?'],
    ["I don't want sugar in my coffee", 'I do not want sugar in my coffee'],
    ['Is five milligrams a safe dose?', 'Is 5mg a safe dose?'],
    ['Convert $1,000 to euros', 'convert 1000 dollars to euros'],
    ['What is the capital of France?', 'tell me the capital city of france'],
    ['How many users is 2.5k?', 'how many users is 2500'],
    ['What happens at twenty five degrees?', 'what happens at 25 degrees'],
    ['Explain recursion', 'Please explain recursion to me'],
  ]) assert.ok(guardAllows(a!, b!), `${a} | ${b}: ${guardSignature(a!)} vs ${guardSignature(b!)}`);
});

test('negations, antonyms, numbers, units and names refuse the hit', () => {
  for (const [a, b] of [
    ['How do I turn on dark mode?', 'How do I turn off dark mode?'],
    ['How do I enable notifications?', 'How do I disable notifications?'],
    ['Should I take it with food?', 'Should I take it without food?'],
    ['Is this safe for children?', 'Is this not safe for children?'],
    ["Can I drink coffee while pregnant?", "Can't I drink coffee while pregnant?"],
    ['How do I increase the font size?', 'How do I decrease the font size?'],
    ['Should I eat before running?', 'Should I eat after running?'],
    ['Is 5 mg of melatonin too much?', 'Is 50 mg of melatonin too much?'],
    ['Is 5 mg of melatonin too much?', 'Is 5 g of melatonin too much?'],
    ['Convert 10 miles to km', 'Convert 100 miles to km'],
    ['What is the capital of France?', 'What is the capital of Spain?'],
    ['How do I upload a file to S3?', 'How do I download a file from S3?'],
    ['Sort the list in ascending order', 'Sort the list in descending order'],
  ]) assert.ok(!guardAllows(a!, b!), `${a} | ${b}: ${guardSignature(a!)} vs ${guardSignature(b!)}`);
});

test('"on" is a switch only after a switching verb', () => {
  assert.equal(guardSignature('Write an essay on climate change'), guardSignature('Write an essay about climate change'));
  assert.notEqual(guardSignature('turn on the lights'), guardSignature('turn the lights'));
});
