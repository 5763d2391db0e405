"""The shared masked-style-loss engine (registered as engines ``gatys`` and ``gatys-full``).

Modules, in the order data flows through them:

* :mod:`.vgg` — the VGG feature network and :func:`~.vgg.extract_features`; its checkpoint
  readers are in :mod:`.feature_weights`;
* :mod:`.layer_masks` — how a target's mask reaches each layer;
* :mod:`.losses` — content and total-variation loss modules;
* :mod:`.style_losses` — the masked style losses as one table (Gram, mean and covariance,
  sliced Wasserstein): what a painting is summarised by and the module that compares with it;
* :mod:`.objective` — the total loss of K targets from one forward pass;
* :mod:`.optimize` — the optimisation loop (L-BFGS, Adam, SGD; NaN guard);
* :mod:`.plan` — the regions, their supersampling, the paintings' sizes and the scales;
* :mod:`.canvas` — resizing, cropping, the start image and pasting back;
* :mod:`.precision` — half-precision autocast;
* :mod:`.gatys` — the engines and their loop; :mod:`.options` — their options;
  :mod:`.plugin` — registration.
"""
