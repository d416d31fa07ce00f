"""Code shared by the three Cloud Functions; copied into each function's folder at build time
(`make build`), imported as `shared` both in the repository and when deployed."""
