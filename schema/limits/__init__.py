"""What a request may ask for and what it costs: the document's shape, its requested and
actual cost, the parsed-document cache, the rate-limit buckets and the extension that applies
them to every operation. It knows no GraphQL domain folder.
"""
