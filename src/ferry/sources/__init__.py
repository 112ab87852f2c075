"""Sources: where package files come from (Nexus 3; later Artifactory and CodeArtifact).

A source lists the files of one repository as :class:`~ferry.sources.base.SourceFile` values and opens
a file as a stream. It does not decide identities: the format's migrator maps files to items.
"""
