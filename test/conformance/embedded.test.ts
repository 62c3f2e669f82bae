// The conformance suite against the embedded API server (the real one: test/cluster/conformance.test.ts).
import { conformance } from './suite.ts';

conformance('embedded');
