# Copyright (c) rcl_mm contributors. All rights reserved.
