"""Lexical text processing and retrieval: the XOR-Retrieve word tokenizer and BM25."""
