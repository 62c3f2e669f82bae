// test/integration/model-artifacts.test.ts (a Model's download step, progress, scan verdict, missing Secret) against a real kube-apiserver.
process.env.MATRIXINFER_TEST_APISERVER = 'real';
await import('../integration/model-artifacts.test.ts');
