"""The online scheduling service (`kaon serve`): the simulator's policies on a wall clock, with
real jobs run by an executor and every state change persisted in the store first."""
