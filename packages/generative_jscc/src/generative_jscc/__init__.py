"""Generative joint source-channel coding (Erdemir, Tung, Dragotti and Gündüz, 2022).

A StyleGAN-2 prior G (:mod:`generative_jscc.stylegan2`, trained by :mod:`generative_jscc.gan_training`),
the SNR-adaptive DeepJSCC forward operator A, InverseJSCC (latent optimisation through A) and
GenerativeJSCC (an encoder-decoder whose decoder drives the frozen G).
"""
