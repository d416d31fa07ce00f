"""Firestore set-up the code relies on: the composite indexes of indexes.json (firestore.indexes.json
format), applied by infra/deploy.py and enforced by the local stack's Firestore front."""
