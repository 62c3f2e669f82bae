// test/integration/autoscaler-variants.test.ts against a real kube-apiserver (etcd + kube-apiserver + the garbage collector).
process.env.MATRIXINFER_TEST_APISERVER = 'real';
await import('../integration/autoscaler-variants.test.ts');
