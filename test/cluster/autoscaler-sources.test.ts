// test/integration/autoscaler-sources.test.ts against a real kube-apiserver (etcd + kube-apiserver + the garbage collector).
process.env.MATRIXINFER_TEST_APISERVER = 'real';
await import('../integration/autoscaler-sources.test.ts');
