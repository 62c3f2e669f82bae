// test/integration/production-stack.test.ts (the seed 004 kinds) against a real kube-apiserver (etcd + kube-apiserver + the garbage collector).
process.env.MATRIXINFER_TEST_APISERVER = 'real';
await import('../integration/production-stack.test.ts');
