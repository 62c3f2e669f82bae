# Builds a small, real ONNX sentence-embedding model for the semantic cache's `onnx` embedder tests: the static
# embedder's own weights (assets/embedder/wordllama-l2-128.bin, WordLlama l2_supercat, int8 rows with a float32
# scale per row, see scripts/build-embedder.ts) as an ONNX graph, plus the tokenizer.json that goes next to it.
# Because the weights are the same, the ONNX provider's vectors must equal the static provider's: that is what the
# tests check, so the ONNX path (model file, tokenizer, feeds, pooling, normalisation) is checked against a
# known answer without downloading any model.
#
#   python3 scripts/build-onnx-embedder.py OUT_DIR          (needs the PyPI package `onnx`; scripts/onnx-embedder.sh
#                                                            makes a virtualenv with it and calls this, once)
#
# The graph has the signature of a BERT-style export, so the provider is exercised as with a real model:
#   inputs   input_ids, attention_mask, token_type_ids: int64 [batch, sequence]
#   outputs  last_hidden_state [batch, sequence, 128]: the token rows, int8 table Gather → Cast → × the row's
#              scale (Gather on the scales), + a token-type row (zeros, as the static table has none);
#            sentence_embedding [batch, 128]: the mean of last_hidden_state over the attention mask, computed in
#              the graph (for the provider's `outputName` and already-pooled models).
# tokenizer.json is the asset's with a Lowercase normaliser first (the static embedder lower-cases before it
# tokenises; an ONNX model's tokenizer.json carries its own normalisation) and no post-processor (the static
# embedder adds no <s>).
#
# Rules: deterministic output (same input, same bytes); opset 17 / IR 8, which onnxruntime-node 1.30 runs; the
# int8 table stays int8 in the file (4.2 MB, like the asset), never a float copy.
import gzip
import json
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ASSETS = os.path.join(HERE, '..', 'assets', 'embedder')


def read_table(path):
    """The static embedder's table: 4-byte LE header length, JSON header, float32 scales, int8 rows."""
    with open(path, 'rb') as f:
        buf = f.read()
    (header_len,) = struct.unpack_from('<I', buf, 0)
    header = json.loads(buf[4:4 + header_len].decode('utf-8'))
    if header['format'] != 'matrixinfer-static-embedding/1':
        raise SystemExit(f"{path}: unknown format {header['format']}")
    rows, dims = header['rows'], header['dims']
    start = 4 + header_len
    scales = np.frombuffer(buf, dtype='<f4', count=rows, offset=start).astype(np.float32)
    weights = np.frombuffer(buf, dtype=np.int8, count=rows * dims, offset=start + 4 * rows).reshape(rows, dims)
    return header, scales, weights


def build_model(header, scales, weights):
    rows, dims = weights.shape
    seq = ['batch', 'sequence']
    inputs = [helper.make_tensor_value_info(name, TensorProto.INT64, seq) for name in ('input_ids', 'attention_mask', 'token_type_ids')]
    outputs = [
        helper.make_tensor_value_info('last_hidden_state', TensorProto.FLOAT, ['batch', 'sequence', dims]),
        helper.make_tensor_value_info('sentence_embedding', TensorProto.FLOAT, ['batch', dims]),
    ]
    initializers = [
        numpy_helper.from_array(np.ascontiguousarray(weights), 'table_int8'),
        numpy_helper.from_array(scales.reshape(rows, 1), 'row_scales'),
        numpy_helper.from_array(np.zeros((2, dims), dtype=np.float32), 'token_type_table'),
        numpy_helper.from_array(np.array([2], dtype=np.int64), 'axis_last'),
        numpy_helper.from_array(np.array([1], dtype=np.int64), 'axis_sequence'),
        numpy_helper.from_array(np.array(1e-9, dtype=np.float32), 'epsilon'),
    ]
    nodes = [
        helper.make_node('Gather', ['table_int8', 'input_ids'], ['rows_int8']),
        helper.make_node('Cast', ['rows_int8'], ['rows_float'], to=TensorProto.FLOAT),
        helper.make_node('Gather', ['row_scales', 'input_ids'], ['rows_scale']),
        helper.make_node('Mul', ['rows_float', 'rows_scale'], ['token_rows']),
        helper.make_node('Gather', ['token_type_table', 'token_type_ids'], ['type_rows']),
        helper.make_node('Add', ['token_rows', 'type_rows'], ['last_hidden_state']),
        helper.make_node('Cast', ['attention_mask'], ['mask_float'], to=TensorProto.FLOAT),
        helper.make_node('Unsqueeze', ['mask_float', 'axis_last'], ['mask_3d']),
        helper.make_node('Mul', ['last_hidden_state', 'mask_3d'], ['masked']),
        helper.make_node('ReduceSum', ['masked', 'axis_sequence'], ['summed'], keepdims=0),
        helper.make_node('ReduceSum', ['mask_3d', 'axis_sequence'], ['count'], keepdims=0),
        helper.make_node('Max', ['count', 'epsilon'], ['count_safe']),
        helper.make_node('Div', ['summed', 'count_safe'], ['sentence_embedding']),
    ]
    graph = helper.make_graph(nodes, 'wordllama_l2_128', inputs, outputs, initializers)
    model = helper.make_model(graph, producer_name='matrixinfer scripts/build-onnx-embedder.py', opset_imports=[helper.make_opsetid('', 17)])
    model.ir_version = 8
    model.doc_string = 'WordLlama l2_supercat (first 128 Matryoshka dims, int8 + per-row scale) as mean-pooled token embeddings'
    helper.set_model_props(model, {'source': str(header.get('source', 'wordllama')), 'rows': str(rows), 'dims': str(dims)})
    onnx.checker.check_model(model, full_check=True)
    return model


def build_tokenizer():
    with gzip.open(os.path.join(ASSETS, 'tokenizer.json.gz'), 'rt', encoding='utf-8') as f:
        tok = json.load(f)
    normalizer = tok.get('normalizer')
    rest = normalizer['normalizers'] if normalizer and normalizer.get('type') == 'Sequence' else ([normalizer] if normalizer else [])
    tok['normalizer'] = {'type': 'Sequence', 'normalizers': [{'type': 'Lowercase'}] + rest}
    tok['post_processor'] = None
    return tok


def main():
    if len(sys.argv) != 2:
        raise SystemExit('usage: python3 scripts/build-onnx-embedder.py OUT_DIR')
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    header, scales, weights = read_table(os.path.join(ASSETS, 'wordllama-l2-128.bin'))
    model = build_model(header, scales, weights)
    # Written under temporary names, then renamed: a reader never sees half a file.
    onnx.save_model(model, os.path.join(out, 'model.onnx.tmp'))
    os.replace(os.path.join(out, 'model.onnx.tmp'), os.path.join(out, 'model.onnx'))
    with open(os.path.join(out, 'tokenizer.json.tmp'), 'w', encoding='utf-8') as f:
        json.dump(build_tokenizer(), f, ensure_ascii=False, separators=(',', ':'))
    os.replace(os.path.join(out, 'tokenizer.json.tmp'), os.path.join(out, 'tokenizer.json'))
    print(os.path.join(out, 'model.onnx'))


if __name__ == '__main__':
    main()
