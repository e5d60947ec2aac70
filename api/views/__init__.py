"""Response shapes as the SPA reads them, one module per context, built from read-model
rows. Views shared with the live publishers (chat messages, notifications) live beside
their read model in ``projections``, below both."""
