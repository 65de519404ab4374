"""The model and its inputs, shared by training and inference: receipts into windows of
word pieces (`features`), the LayoutLM built from a source (`build`: tiny, a local folder, a
hub id, a BERT warm start; `hub`), word-level scoring (`evaluate`, `unscored`), and the model
package every trained model is saved as (`package`: receipt_ml.json)."""
