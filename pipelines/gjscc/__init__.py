"""Generative JSCC (Erdemir et al. 2022): the stages and figures of Figs. 6-9."""
