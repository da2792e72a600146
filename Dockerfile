FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# Editable: the templates and static folders are read from the source tree.
RUN pip install --no-cache-dir -e .
EXPOSE 8080
CMD ["vbranch", "serve"]
