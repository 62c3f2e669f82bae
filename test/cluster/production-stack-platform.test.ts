// test/integration/production-stack-platform.test.ts (the seed 004 kinds end to end) against a real kube-apiserver.
process.env.MATRIXINFER_TEST_APISERVER = 'real';
await import('../integration/production-stack-platform.test.ts');
