FROM python:3.11-slim

# PYTHONPATH: run the code from /app, where templates, static and var/ sit beside it,
# rather than the copy `pip install .` puts in site-packages.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app

RUN groupadd --system crewboard \
    && useradd --system --gid crewboard --create-home --home-dir /home/crewboard crewboard

WORKDIR /app
COPY . .
# collectstatic only needs some SECRET_KEY to load settings; the real one comes at run time.
RUN pip install . \
    && SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && chown -R crewboard:crewboard var

USER crewboard
EXPOSE 8000

# The control socket in the app's own var/, not the user's home that every gunicorn of
# the user shares.
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2", \
     "--control-socket", "/app/var/gunicorn.ctl", \
     "--access-logfile", "-", "--error-logfile", "-"]
