// kubectl against the embedded API server (the real one: test/cluster/kubectl.test.ts).
import { kubectlSuite } from './kubectl.ts';

kubectlSuite('embedded');
