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

CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2", \
     "--access-logfile", "-", "--error-logfile", "-"]
