"""Plain helpers every zone may use: durable files, terminal output, photo
cleaning, the SQLite connection, HTTP plumbing, days. No keys, no formats.
"""
