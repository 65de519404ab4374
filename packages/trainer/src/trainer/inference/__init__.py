"""Using a trained model: find it (`model_ref`: a folder, a job, an S3 copy), run it
(`runtime`: torch or ONNX), tag receipts with it (`predict`, `predict_io`: snapshot, JSONL or
table input) and export it to ONNX with a parity check (`export`)."""
