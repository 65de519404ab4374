"""dataset_builder: DynamoDB receipt labels -> versioned, immutable Parquet snapshots."""
