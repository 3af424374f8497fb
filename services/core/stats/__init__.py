"""Half-yearly statistics: semesters in Paris time, daily rollups, figures, small-count suppression, CSV."""
