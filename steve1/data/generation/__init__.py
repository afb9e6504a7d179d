"""Dataset generation: contractor conversion (convert_from_contractor.py), goal embeddings of episode windows."""
