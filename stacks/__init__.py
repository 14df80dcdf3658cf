"""CDK Terrain constructs for the GCP side of the platform, and the app that builds one stack per environment.

One module per concern (network, gke, database, logs, iam, secret_manager); `environment_stack`
composes them for one environment and `app` builds every requested environment into one App.
Importing this package is cheap: the provider bindings load only when a construct module is imported.
"""
