// kubectl against a real kube-apiserver (the embedded one: test/conformance/kubectl-embedded.test.ts).
import { kubectlSuite } from '../conformance/kubectl.ts';

kubectlSuite('real');
