"""vaesynth: a real-time latent-space synthesizer.

A beta-VAE trained on sound spectra, its latent space reduced by PCA to a few playable axes, decoded in
real time into spectra that an oscillator bank or an inverse STFT turns into audio.
"""

__version__ = "0.1.0"
