"""The demo platform ``languagemate demo seed`` builds (``app.demo.seed``)."""
