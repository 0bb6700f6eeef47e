"""The dedup stage (`stage`): exact and near duplicates and copies of the prompts' examples, dropped
before anything is judged; near duplicates by MinHash (`minhash`)."""
