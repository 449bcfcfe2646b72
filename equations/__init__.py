"""The Brian2 model equations of ipvae-snn, as plain text files (read by
`ipvae_snn.equations_io`); this file only makes the folder a package so that the
texts ship inside the wheel."""
