def load_settings():
    return {"threshold": 1} ["treshold"]
