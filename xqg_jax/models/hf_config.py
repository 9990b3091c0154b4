"""HF `config.json` keys shared by every model we import."""

# Keys of an HF model config that do not change a model's computation: metadata, task heads,
# generation and runtime options, and the original BERT release's unused pooler_* fields.
IGNORED_KEYS = frozenset({
    'architectures', 'transformers_version', 'torch_dtype', 'dtype', '_name_or_path',
    'id2label', 'label2id', 'num_labels', 'problem_type', 'finetuning_task',
    'classifier_dropout', 'tie_word_embeddings', 'tie_encoder_decoder', 'task_specific_params',
    'tokenizer_class', 'prefix', 'bos_token_id', 'eos_token_id', 'sep_token_id',
    'decoder_start_token_id', 'use_cache', 'output_past', 'output_attentions',
    'output_hidden_states', 'return_dict', 'torchscript', 'use_bfloat16',
    'gradient_checkpointing', 'directionality', 'pooler_fc_size', 'pooler_num_attention_heads',
    'pooler_num_fc_layers', 'pooler_size_per_head', 'max_length', 'min_length', 'do_sample',
    'early_stopping', 'num_beams', 'num_beam_groups', 'diversity_penalty', 'temperature',
    'top_k', 'top_p', 'typical_p', 'repetition_penalty', 'length_penalty',
    'no_repeat_ngram_size', 'encoder_no_repeat_ngram_size', 'bad_words_ids',
    'num_return_sequences', 'output_scores', 'return_dict_in_generate', 'forced_bos_token_id',
    'forced_eos_token_id', 'remove_invalid_values', 'exponential_decay_length_penalty',
    'suppress_tokens', 'begin_suppress_tokens', 'tf_legacy_loss',
})
