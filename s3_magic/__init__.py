"""s3_magic: Synthesis Step by Step (S3) for notebooks, the command line and plain Python."""

__version__ = "0.1.0"
