// test/integration/warm-pool.test.ts against a real kube-apiserver (etcd + kube-apiserver + the garbage collector).
process.env.MATRIXINFER_TEST_APISERVER = 'real';
await import('../integration/warm-pool.test.ts');
