"""Governed promotion: every move of a model's alias recorded (history, ``?at=``, roll back), and
protected aliases (per-project rules: the role that may move one, the approvals and the version
tags it needs) whose moves may wait in a promotion request until eligible members approve it."""
