// The conformance suite against a real kube-apiserver (the embedded one: test/conformance/embedded.test.ts).
import { conformance } from '../conformance/suite.ts';

conformance('real');
