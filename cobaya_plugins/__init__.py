"""cobaya_plugins: Planck clik likelihoods for Cobaya, for any cosmological model (README.md)."""
