"""VPT (Video PreTraining, Baker et al. 2022) re-implemented from the PTGM spec §4.

* :mod:`VPT.lib.policy`: ``MinecraftPolicy`` (ImpalaCNN + recurrent transformer) and ``MinecraftAgentPolicy``
  (+ action and value heads), configured by :func:`VPT.lib.loading.load_model_config` (official ``.model`` pickle
  or YAML) for the MineRL action space, ``Discrete(n)`` or ``Box((d,))``.
* :mod:`VPT.lib.loading`: config and weight loading with clear errors.
* :mod:`VPT.agent`: ``MineRLAgent``, the official agent API (MineRL observation/action conversion).
* :mod:`VPT.lib.actions`, :mod:`VPT.lib.action_mapping`, :mod:`VPT.lib.frames`: action spaces and frame resizing.

Imports are absolute (``from VPT.lib.policy import MinecraftAgentPolicy``); unlike upstream, this package does not
put ``VPT/`` on the module search path.
"""
