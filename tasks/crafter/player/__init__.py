"""The parts of the scripted Crafter player, :class:`tasks.crafter.scripted_player.ScriptedPlayer`, one job each.

* :mod:`~tasks.crafter.player.rules`: what the player knows of Crafter's rules (action and semantic ids, walkable
  and diggable tiles, the day-night clock), its sub-goal names and its per-episode :class:`PlayerStyle`;
* :mod:`~tasks.crafter.player.masks`: shifts, dilations and box sums of boolean tile masks;
* :mod:`~tasks.crafter.player.state`: :class:`PlayerState`, what the player perceives and remembers each step;
* :mod:`~tasks.crafter.player.navigation`: :class:`Navigation`, path planning over remembered tiles, walking,
  facing and exploring;
* :mod:`~tasks.crafter.player.survival`: :class:`Survival`, threats, drinking and eating (cows, plants), sleeping
  and the night shelter;
* :mod:`~tasks.crafter.player.planner`: :class:`Planner`, the choice of sub-goals along the tech tree and the
  sub-goals that gather, place, craft and hunt.

The classes are mixins of one object (``ScriptedPlayer``); each method reaches the others through ``self``.
"""
