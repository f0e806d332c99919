"""zooselect: which pre-trained expert should I fine-tune on my task, without fine-tuning them all?

The library is importable without Snakemake: datasets (`zooselect.data`),
architectures and checkpoints (`zooselect.models`), the training loop
(`zooselect.training`), HDF5 caches (`zooselect.cache`), score functions
(`zooselect.scores`) and ranking metrics (`zooselect.evaluation`).
"""

__version__ = "0.1.0"
