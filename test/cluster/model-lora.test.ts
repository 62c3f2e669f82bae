// test/integration/model-lora.test.ts against a real kube-apiserver (etcd + kube-apiserver + the garbage collector).
process.env.MATRIXINFER_TEST_APISERVER = 'real';
await import('../integration/model-lora.test.ts');
