"""The dense retriever (xDR): bi-encoder, contrastive training, encoding texts to embeddings."""
