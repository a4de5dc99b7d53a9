"""Compiled reads: a query is answered by walking a plan made once per shape of document,
instead of graphql-core resolving every field of every item one call at a time.

The plan is graphql-core's own field collection (fragments, aliases, @include/@skip) done
once; each field then either reads an attribute of the object the services built (most
fields), or calls the same resolver the ordinary executor calls (computed and related
fields). Leaves go through the schema's own serializers, errors are located and coded as the
ordinary executor would, so the answer is the same bytes. Whatever the plan cannot answer the
same way (an error it would have to order differently, a null where one is not allowed) it
declines, and the ordinary executor answers the request instead.
"""
