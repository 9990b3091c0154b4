"""xqg-jax: cross-lingual query generation augmentation for dense retrieval, in JAX/Flax."""

import setuptools

# Pins and the reasons for them: BUILD_NOTES.md.
INSTALL_REQUIRES = [
    'jax==0.10.2',  # newest jax for Python 3.11 (0.11+ needs 3.12; torch 2.13.0 on disk is 3.11).
    'jaxlib==0.10.2',
    'flax==0.12.8',
    'optax==0.2.8',
    'orbax-checkpoint==0.12.8',
    'numpy>=2.0,<2.5',
    'absl-py==2.5.1',
    'ml-collections==1.1.0',
    'etils[epath]==1.15.0',
    'transformers==5.24.0',  # tokenizers/configs, and the PyTorch reference in parity tests.
    'tokenizers==0.23.3',
    'sentencepiece==0.2.3',
    'safetensors==0.8.0',
    'scann==1.4.2',  # runs without TensorFlow.
    'tensorflow-datasets==4.9.10',  # ArrayRecord builders and data_source, no TensorFlow.
    'array-record==0.8.6',
    'grain==0.2.18',
    'regex>=2024.0',  # Unicode classes (\p{M}) for the word tokenizer.
    'nltk==3.10.3',  # word_tokenize: the official R@kt tokenizer (with its Punkt model).
    'tqdm>=4.66',
    'ir-measures==0.4.3',  # Recall@100, MRR@10, nDCG@10 (pytrec_eval underneath).
    'pytrec-eval-terrier==0.5.11',
    'matplotlib==3.11.2',  # report plots (Agg backend, no display).
]

EXTRAS = {
    # torch: the PyTorch reference in parity tests (2.13.0 CPU wheel; a bare 'torch' pulls CUDA).
    # faiss-cpu: the search benchmark's peer, run by its smoke test.
    # threadpoolctl: the BLAS kernels each benchmark ran with, in its JSON.
    'test': ['pytest==9.2.0', 'pytest-xdist==3.8.0', 'scipy>=1.13', 'torch==2.13.0',
             'faiss-cpu==1.15.1', 'threadpoolctl==3.7.0'],
    'bench': ['faiss-cpu==1.15.1', 'torch==2.13.0', 'threadpoolctl==3.7.0'],
    'tpu': ['jax[tpu]==0.10.2', 'gcsfs==2026.10.1'],  # gcsfs: gs:// work dirs through epath
}

setuptools.setup(
    name='xqg-jax',
    version='0.1.0',
    description=__doc__,
    python_requires='>=3.11',
    packages=setuptools.find_packages(include=['xqg_jax', 'xqg_jax.*', 'launch', 'launch.*']),
    package_data={'xqg_jax': ['configs/*.py']},
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
)
