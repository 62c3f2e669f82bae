// test/integration/scale-from-zero.test.ts against a real kube-apiserver (etcd + kube-apiserver + the garbage collector):
// the gateway's 0→1 write through the CRD's scale subresource with a resourceVersion precondition, racing gateways.
process.env.MATRIXINFER_TEST_APISERVER = 'real';
await import('../integration/scale-from-zero.test.ts');
