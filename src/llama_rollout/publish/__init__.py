"""The publish stage: the evaluated version becomes OpenShift Lightspeed's provider.

* ``olsconfig``: the merge into OLSConfig ``cluster``, pure (every other field kept), and the
  installed CRD's MCP server shape;
* ``lightspeed``: the cluster's sequence: Secret, read-merge-write with a resourceVersion
  precondition, the operator's rollout, a question to Lightspeed, the restore on failure;
* ``lease``: one publisher at a time;
* ``budget``: Lightspeed's prompt budget, checked before anything is written;
* ``versions``: blue/green on the cluster: publish under the Lease, retire what it replaced;
* ``embedded``: the same merge into the embedded stack's OLSConfig file, checked against the
  real CRD and the way Lightspeed's readiness probe checks a provider;
* ``live``: whether the source's revision is live already (a scheduled run's first question);
* ``step``: the step's parameters and its two targets.
"""
