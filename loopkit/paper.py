"""The paper's published numbers, in one place: Tables 1-4, the corpus funnel, the prior and the listening test.

Every table that reproduces the paper takes its "paper" column from here. Values are copied from the text of
Han, Ihm, Lim (2021); the comment beside each says where. Nothing in this module is a result of loopkit.
"""

from __future__ import annotations

import math

NAN = math.nan

#: Data Preprocess: LMD-full and the loops extracted from it; Experiment Details: the split sizes.
CORPUS = {
    "files": 176_581,
    "files_4_4": 114_444,
    "loops": 150_750,
    "train": 120_600,
    "valid": 15_075,
    "test": 15_075,
}

#: Table 1 (model metric): reconstruction error on the validation set (mean Hamming distance per cell).
TABLE1_RECONSTRUCTION = {
    "AR LSTM-VAE": 3.68e-3,
    "NonAR LSTM-VAE": 3.37e-3,
    "CNN-VAE": 3.81e-3,
    "VQ-VAE": 5.11e-3,
}

#: Table 2: VQ-VAE reconstruction error by latent size, keyed by (t, L, K).
TABLE2_LATENT_SIZE = {
    (32, 16, 256): 6.05e-3,
    (32, 16, 512): 5.11e-3,
    (32, 32, 512): 5.06e-3,
    (64, 16, 256): 3.89e-3,
    (64, 16, 512): 3.33e-3,
    (64, 32, 512): 3.02e-3,
}

#: Column order of Tables 3 and 4 (the paper's abbreviations).
METRIC_COLUMNS = ("HD", "FND", "FNB", "DB", "OS", "US", "UP", "ND")
#: The paper's groups of those columns (Musical Metrics: loop properties, creativeness, musical style).
METRIC_GROUPS = {"loop properties": ("HD", "FND", "FNB", "DB"), "creativeness": ("OS", "US"),
                 "musical style": ("UP", "ND")}  # fmt: skip

#: Table 3 ("Musical Metric Results"; printed as a second "Table 1" in the text). NaN where the paper has "-".
TABLE3_MUSICAL_METRICS = {
    "Training set": dict(HD=4.43e-4, FND=1.00, FNB=1.00, DB=0.00, OS=1.00, US=0.51, UP=10.50, ND=0.92),
    "AR LSTM-VAE": dict(HD=4.05e-3, FND=0.99, FNB=0.44, DB=1.51e-2, OS=NAN, US=NAN, UP=10.61, ND=0.73),
    "NonAR LSTM-VAE": dict(HD=2.79e-3, FND=1.00, FNB=0.41, DB=1.89e-2, OS=NAN, US=NAN, UP=10.79, ND=0.75),
    "CNN-VAE": dict(HD=7.33e-3, FND=0.96, FNB=0.71, DB=4.44e-2, OS=NAN, US=NAN, UP=13.81, ND=0.77),
    "VQ-VAE (argmax)": dict(HD=1.44e-3, FND=1.00, FNB=0.98, DB=1.10e-3, OS=0.28, US=4.08e-3, UP=8.77, ND=0.94),
    "VQ-VAE (temp 1)": dict(HD=4.25e-3, FND=1.00, FNB=0.98, DB=2.21e-3, OS=7.97e-2, US=0.50, UP=9.94, ND=0.91),
    "VQ-VAE (temp 1.5)": dict(HD=1.23e-2, FND=1.00, FNB=0.98, DB=2.56e-3, OS=2.45e-2, US=0.90, UP=11.58, ND=0.89),
    "VQ-VAE (temp 2)": dict(HD=1.82e-2, FND=1.00, FNB=0.97, DB=3.09e-3, OS=2.89e-3, US=0.99, UP=14.05, ND=0.88),
}

#: Table 4 ("Musical Metrics by Manipulating Latent Space"; printed as "Table 2"): latent steps 0,1 copied
#: onto 16,17 before decoding.
TABLE4_MANIPULATED = {
    "VQ-VAE (argmax)": dict(HD=1.56e-3, FND=1.00, FNB=0.98, DB=1.01e-3, OS=0.25, US=4.11e-3, UP=8.69, ND=0.95),
    "VQ-VAE (temp 1)": dict(HD=3.58e-3, FND=1.00, FNB=0.98, DB=2.18e-3, OS=7.12e-2, US=0.62, UP=10.02, ND=0.91),
    "VQ-VAE (temp 1.5)": dict(HD=6.89e-3, FND=1.00, FNB=0.98, DB=2.61e-3, OS=2.25e-2, US=0.92, UP=11.44, ND=0.90),
    "VQ-VAE (temp 2)": dict(HD=9.99e-3, FND=1.00, FNB=0.97, DB=3.14e-3, OS=2.95e-3, US=0.99, UP=13.72, ND=0.88),
}

#: Music VQ-VAE section: teacher-forced next-code accuracy of the 2-layer LSTM prior on LMD.
PRIOR_ACCURACY = 0.8291

#: Listening Test section and Figure 6: 20 listeners, 10 loops per group, 3 familiarisation loops,
#: 5-point Likert scale. The text gives two group means and the Kruskal-Wallis H. Figure 6 prints a mean above
#: each of its five boxes, but the paper's text (``../shared/paper/paper.txt``) holds no image of it, and the other
#: three means were not found in any copy of the paper searched (arXiv 2111.07657 and its mirrors): they are left
#: out, never estimated.
LISTENING_TEST = {
    "listeners": 20,
    "loops_per_group": 10,
    "familiarisation_loops": 3,
    "scale": (1, 5),
    "groups": ("Training set", "AR LSTM-VAE", "NonAR LSTM-VAE", "CNN-VAE", "VQ-VAE (temp 1.2)"),
    "means": {"Training set": 3.83, "VQ-VAE (temp 1.2)": 3.52},
    "kruskal_h": 75.19,
    "kruskal_p_below": 0.001,
}

#: Training Details and Experiment Details: what the paper trained with (the `paper` profile's defaults).
TRAINING = {
    "epochs": 2000,
    "batch_size": 2048,
    "optimizer": "AdamW",
    "lr_max": 1e-3,
    "lr_min": 5e-6,
    "hardware": "one NVIDIA GeForce RTX 3090, under 8 hours per model",
}
